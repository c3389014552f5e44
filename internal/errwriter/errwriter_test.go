package errwriter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
)

// failAfter accepts n writes, then fails every one.
type failAfter struct {
	n   int
	buf bytes.Buffer
}

var errFull = errors.New("no space left on device")

func (f *failAfter) Write(p []byte) (int, error) {
	if f.n == 0 {
		return 0, errFull
	}
	f.n--
	return f.buf.Write(p)
}

func TestFirstErrorSticks(t *testing.T) {
	dst := &failAfter{n: 1}
	calls := 0
	w := &Writer{W: dst, OnError: func(err error) {
		calls++
		if !errors.Is(err, errFull) {
			t.Errorf("OnError(%v)", err)
		}
	}}
	fmt.Fprint(w, "one ")
	if w.Err() != nil {
		t.Fatalf("Err after a good write: %v", w.Err())
	}
	fmt.Fprint(w, "two ")
	dst.n = 10 // the destination recovers: the writer must not
	if _, err := fmt.Fprint(w, "three"); !errors.Is(err, errFull) {
		t.Errorf("write after the failure: %v", err)
	}
	if !errors.Is(w.Err(), errFull) || calls != 1 || dst.buf.String() != "one " {
		t.Errorf("Err %v, OnError called %d times, written %q", w.Err(), calls, dst.buf.String())
	}
}

type short struct{}

func (short) Write(p []byte) (int, error) { return len(p) / 2, nil }

func TestShortWrite(t *testing.T) {
	w := &Writer{W: short{}}
	if _, err := w.Write([]byte("abcd")); !errors.Is(err, io.ErrShortWrite) || !errors.Is(w.Err(), io.ErrShortWrite) {
		t.Errorf("short write: %v, Err %v", err, w.Err())
	}
}

func TestConcurrent(t *testing.T) {
	var buf bytes.Buffer
	w := &Writer{W: &buf}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 100 {
				w.Write([]byte("x"))
			}
		}()
	}
	wg.Wait()
	if buf.Len() != 800 || w.Err() != nil {
		t.Errorf("%d bytes, Err %v", buf.Len(), w.Err())
	}
}
