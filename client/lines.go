package client

import (
	"bufio"
	"fmt"
	"io"
	"sync"
)

// Lines splits a stream into the payloads of SendAll, one per line,
// without its newline (and a CR before it), as udpcli send reads standard
// input. A line longer than max bytes is not buffered whole: its first
// max+1 bytes are yielded, so that SendAll reports it as ErrTooLarge, and
// TooLong gives its length. A nil *Lines yields nothing.
type Lines struct {
	r   *bufio.Reader
	max int
	err error // a read error other than EOF

	mu   sync.Mutex
	long map[int]int // line number -> length, for lines longer than max
}

// NewLines returns the lines of r for payloads of at most max bytes.
func NewLines(r io.Reader, max int) *Lines {
	return &Lines{r: bufio.NewReaderSize(r, 64*1024), max: max, long: map[int]int{}}
}

// TooLong reports whether line n (from 1) was longer than max, and its
// length without the newline.
func (l *Lines) TooLong(n int) (int, bool) {
	if l == nil {
		return 0, false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	size, ok := l.long[n]
	return size, ok
}

// Err is the read error (other than EOF) that ended All, naming the line.
func (l *Lines) Err() error {
	if l == nil {
		return nil
	}
	return l.err
}

// All yields the lines in order; it is an iter.Seq[[]byte]. The slice is
// reused: it is valid until the next line is yielded.
func (l *Lines) All(yield func([]byte) bool) {
	if l == nil {
		return
	}
	var line []byte
	for n := 1; ; n++ {
		line = line[:0]
		size := 0
		var err error
		var before, last byte // the two last bytes read
		for {
			var chunk []byte
			chunk, err = l.r.ReadSlice('\n')
			size += len(chunk)
			for _, b := range chunk[max(0, len(chunk)-2):] {
				before, last = last, b
			}
			if len(line) <= l.max {
				line = append(line, chunk[:min(len(chunk), l.max+1-len(line))]...)
			}
			if err != bufio.ErrBufferFull {
				break
			}
		}
		if size == 0 && err != nil {
			if err != io.EOF {
				l.err = fmt.Errorf("reading line %d: %w", n, err)
			}
			return
		}
		// Drop the newline and a CR before it from the size and the line.
		trim := 0
		if err == nil { // ended with '\n'
			trim = 1
			if size >= 2 && before == '\r' {
				trim = 2
			}
		}
		size -= trim
		if size > l.max {
			l.mu.Lock()
			l.long[n] = size
			l.mu.Unlock()
			line = line[:l.max+1]
		} else {
			line = line[:size]
		}
		if !yield(line) {
			return
		}
		if err != nil {
			if err != io.EOF {
				l.err = fmt.Errorf("reading line %d: %w", n+1, err)
			}
			return
		}
	}
}

// ReadDatagram reads all of r as one payload of at most max bytes (udpcli
// send --file), without buffering more than max+1 bytes of a larger input.
// An empty input is an empty payload, never nil.
func ReadDatagram(r io.Reader, max int) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, err
	}
	if len(b) > max {
		return nil, fmt.Errorf("more than %d bytes, the most one datagram carries", max)
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}
