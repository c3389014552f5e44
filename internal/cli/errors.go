package cli

import "fmt"

// UsageError is a mistake on the command line: exit status 2, with a hint
// to run --help.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef returns a *UsageError with a formatted message.
func Usagef(format string, args ...any) error {
	return &UsageError{Msg: fmt.Sprintf(format, args...)}
}

// ExitError carries an exit status with an optional error to print (nil:
// the command already reported what happened).
type ExitError struct {
	Code int
	Err  error
}

func (e *ExitError) Error() string {
	if e.Err == nil {
		return fmt.Sprintf("exit status %d", e.Code)
	}
	return e.Err.Error()
}

// Unwrap returns the error ExitError carries.
func (e *ExitError) Unwrap() error { return e.Err }

// Failed returns an error that makes the program exit with status 1 and
// print err (nothing when err is nil).
func Failed(err error) error { return &ExitError{Code: ExitFailed, Err: err} }
