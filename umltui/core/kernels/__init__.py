"""UML kernels as a managed thing: which are here, what each boots on this host, which a guest gets, fetching one."""
