#!/bin/sh
exec /bin/login -p -f root
