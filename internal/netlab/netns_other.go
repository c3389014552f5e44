//go:build !linux

package netlab

import (
	"errors"
	"runtime"
)

func doIn(ns string, fn func() error) error {
	return errors.New("netlab: network namespaces need Linux, this is " + runtime.GOOS)
}
