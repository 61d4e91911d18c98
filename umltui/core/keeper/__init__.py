"""The keeper: reads and logs every console pty, whatever happens to the supervisor.

A supervisor that dies must cost no console byte and no hangup. Two facts decide the shape:

- When the last process that has a ``con=pts`` console's pty open closes it, the guest's
  tty sees a hangup (its programs get SIGHUP). So something that outlives supervisors
  must hold every console pty open.
- Whoever *reads* a pty can be killed between the read and writing what it read to the
  log: those bytes are gone. (Handing the descriptors over lost one line in a
  numbered flood this way.) So the reader must be that same long-lived process.

So one small process per user, ``umltui keeper``, is given each console's pty (its
descriptor, with ``SCM_RIGHTS``), reads it, appends what it reads to the console's log
(:class:`~.consolelog.ConsoleLog`: capped, rotated, honest about a full disk) and streams
it to the supervisor attached to it. The supervisor keeps its own descriptor of each pty
for keystrokes and window sizes, and builds its scrollback and its clients' output from
the stream. A new supervisor attaches, is told how far each log is, reads the logs up to
there into its scrollback and takes the stream from exactly that point: no byte missed,
none twice. While no supervisor is attached, the keeper goes on reading and logging.
When the supervisor reads too slowly, the keeper stops reading the ptys (so the guests'
writes wait), it does not drop anything.

The keeper forgets a pty when the guest closes it (a halt or a reboot; the supervisor is
told) and exits once it holds nothing and no supervisor is connected.

Where each part lives:

- :mod:`.wire`: the requests and answers (typed), the stream's packets; no I/O.
- :mod:`.server`: the keeper process (``umltui keeper``): the ptys it reads, the stream,
  its requests served from one table (``OPERATIONS``).
- :mod:`.client`: the supervisor's side: :class:`~.client.KeeperClient` (requests),
  :class:`~.client.KeeperStream` (the attached stream on the event loop), starting a keeper.
"""
