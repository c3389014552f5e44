// Package errwriter is the io.Writer the commands put in front of stdout
// and the generators write through: it remembers the first write error,
// so that a full disk or a closed pipe ends as an error, never as silently
// truncated output, without checking every Fprintf.
package errwriter

import (
	"io"
	"sync"
)

// Writer passes writes to W until one fails; it then remembers that error,
// calls OnError (if set) once with it, and refuses every later write with
// the same error. It is safe for concurrent use.
type Writer struct {
	W       io.Writer
	OnError func(error)

	mu  sync.Mutex
	err error
}

// Write writes p to W, unless an earlier write failed.
func (w *Writer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.W.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.err = err
		if w.OnError != nil {
			w.OnError(err)
		}
	}
	return n, err
}

// Err returns the first write error, or nil.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}
