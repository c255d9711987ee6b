package main

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// protocolOutput moves the process's standard output out of everyone's reach: it returns a new
// descriptor for the original stdout (the protocol stream to the node) and points descriptor 1 at
// standard error, so that a stray print from any library lands in the log instead of corrupting
// the frames. Writes to the returned file on a closed pipe fail with EPIPE instead of killing the
// process (Go turns SIGPIPE into an exit only on descriptors 1 and 2).
func protocolOutput() (*os.File, error) {
	fd, err := unix.FcntlInt(1, unix.F_DUPFD_CLOEXEC, 3)
	if err != nil {
		return nil, fmt.Errorf("duplicate stdout: %w", err)
	}
	if err := unix.Dup3(2, 1, 0); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("redirect stdout to stderr: %w", err)
	}
	return os.NewFile(uintptr(fd), "protocol"), nil
}
