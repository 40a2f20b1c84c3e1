package main

import (
	"bytes"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The control socket is never made at its path, where it would be open to
// anyone until its chmod: it is made in a folder of the owner's alone and
// moved into place already narrowed.
func TestTheControlSocketArrivesInTheFolderAlreadyNarrowed(t *testing.T) {
	f := newFolder(t)
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("inotify: %v", err)
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, f.dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		t.Fatal(err)
	}
	holdFolder(t, f.dir) // checks the socket's mode once it is there
	buf := make([]byte, 64<<10)
	var created, movedIn bool
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EAGAIN || n <= 0 {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
			if name == controlSocket {
				created = created || ev.Mask&unix.IN_CREATE != 0
				movedIn = movedIn || ev.Mask&unix.IN_MOVED_TO != 0
			}
			off += unix.SizeofInotifyEvent + int(ev.Len)
		}
	}
	if created || !movedIn {
		t.Errorf("the control socket was made at its path (%v), or not moved there (moved in: %v)", created, movedIn)
	}
}
