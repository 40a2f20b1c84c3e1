package storage

// Progress is how far a long task (verify, export, import, gc) has come:
// items (blobs, artifacts) and bytes, each against its total, 0 when the
// total is not known. Callbacks that receive it are called often, from the
// task's own goroutine: throttle there.
type Progress struct {
	Items, TotalItems int
	Bytes, TotalBytes int64
}
