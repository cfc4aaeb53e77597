"""The local development stack: the emulator, the service and redis-server, started by pid."""
