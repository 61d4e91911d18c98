#!/bin/sh
exec /bin/login -p "$@"
