package errwriter_test

import (
	"errors"
	"fmt"
	"io"

	"github.com/udpkit/udpkit/internal/errwriter"
)

type full struct{}

func (full) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

func ExampleWriter() {
	w := &errwriter.Writer{W: full{}}
	for i := range 3 {
		fmt.Fprintf(w, "line %d\n", i) // no check per line
	}
	fmt.Println(w.Err())
	w = &errwriter.Writer{W: io.Discard}
	fmt.Fprintln(w, "fine")
	fmt.Println(w.Err())
	// Output:
	// no space left on device
	// <nil>
}
