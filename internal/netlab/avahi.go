package netlab

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Avahi is an avahi-daemon running inside one lab host, with a private
// D-Bus system bus for avahi-browse and avahi-publish. The daemon runs in
// a mount namespace of its own (unshare -m) that binds a private /run and
// /etc/avahi/services over the real ones, so it never meets, and never
// disturbs, an Avahi of the machine; it runs as root without chroot
// (--no-drop-root --no-chroot) with a configuration of its own (-f).
type Avahi struct {
	// HostName is the daemon's host name (HostName.local).
	HostName string
	// Services is the directory bound over /etc/avahi/services: static
	// service files written there before StartAvahi are published.
	Services string

	h       *Host
	dir     string
	bus     string
	dbus    *exec.Cmd
	daemon  *exec.Cmd
	stopped chan struct{}

	mu  sync.Mutex
	log strings.Builder
}

// AvahiAvailable reports whether StartAvahi can work here: a lab can be
// built and avahi-daemon, avahi-browse, avahi-publish, dbus-daemon and
// unshare are installed. Tests skip with its error.
func AvahiAvailable() error {
	if err := Available(); err != nil {
		return err
	}
	for _, b := range []string{"avahi-daemon", "avahi-browse", "avahi-publish", "dbus-daemon", "unshare", "mount"} {
		if _, err := exec.LookPath(b); err != nil {
			return fmt.Errorf("netlab: %s is missing (Debian: apt-get install avahi-daemon avahi-utils dbus): %w", b, err)
		}
	}
	if fi, err := os.Stat("/etc/avahi/services"); err != nil || !fi.IsDir() {
		return fmt.Errorf("netlab: /etc/avahi/services is missing (it is where a private one is bound): %v", err)
	}
	return nil
}

const dbusConf = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
`

const avahiConf = `[server]
host-name=%s
domain-name=local
use-ipv4=yes
use-ipv6=yes
allow-interfaces=%s
enable-dbus=yes
ratelimit-interval-usec=1000000
ratelimit-burst=1000
[wide-area]
enable-wide-area=no
[publish]
publish-hinfo=no
publish-workstation=no
[reflector]
enable-reflector=no
[rlimits]
`

// StartAvahi starts a D-Bus system bus and avahi-daemon in host h, on all
// of its NICs, and waits until the daemon has its host name. hostName
// empty means "avahi-h<index>". files maps service file names to their
// contents (Avahi's static services, /etc/avahi/services/NAME). Close
// stops both.
func (h *Host) StartAvahi(ctx context.Context, hostName string, files map[string]string) (*Avahi, error) {
	if err := AvahiAvailable(); err != nil {
		return nil, err
	}
	if hostName == "" {
		hostName = fmt.Sprintf("avahi-h%d", h.Index)
	}
	dir, err := os.MkdirTemp("", "netlab-avahi-")
	if err != nil {
		return nil, fmt.Errorf("netlab: %w", err)
	}
	a := &Avahi{HostName: hostName, Services: filepath.Join(dir, "services"), h: h, dir: dir,
		bus: filepath.Join(dir, "bus"), stopped: make(chan struct{})}
	fail := func(err error) (*Avahi, error) {
		a.Close()
		return nil, err
	}
	for _, d := range []string{"run/avahi-daemon", "services"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return fail(fmt.Errorf("netlab: %w", err))
		}
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(a.Services, filepath.Base(name)), []byte(body), 0o644); err != nil {
			return fail(fmt.Errorf("netlab: %w", err))
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "dbus.conf"), fmt.Appendf(nil, dbusConf, a.bus), 0o644); err != nil {
		return fail(fmt.Errorf("netlab: %w", err))
	}
	if err := os.WriteFile(filepath.Join(dir, "avahi.conf"), fmt.Appendf(nil, avahiConf, hostName, strings.Join(h.Ifaces, ",")), 0o644); err != nil {
		return fail(fmt.Errorf("netlab: %w", err))
	}

	a.dbus = exec.Command("ip", "netns", "exec", h.Name, "dbus-daemon", "--config-file="+filepath.Join(dir, "dbus.conf"), "--nofork", "--nopidfile")
	a.dbus.Stderr = &lockedWriter{a}
	if err := a.dbus.Start(); err != nil {
		return fail(fmt.Errorf("netlab: starting dbus-daemon: %w", err))
	}
	if err := waitFile(ctx, a.bus, 10*time.Second); err != nil {
		return fail(fmt.Errorf("netlab: dbus-daemon in %s: %w: %s", h.Name, err, a.Log()))
	}

	script := `set -e
mount --make-rprivate /
mount --bind "$1/run" /run
mount --bind "$1/services" /etc/avahi/services
exec avahi-daemon --no-drop-root --no-chroot --no-rlimits -f "$1/avahi.conf"`
	a.daemon = exec.Command("ip", "netns", "exec", h.Name, "unshare", "-m", "sh", "-c", script, "sh", dir)
	a.daemon.Env = append(os.Environ(), a.Env()...)
	stderr, err := a.daemon.StderrPipe()
	if err != nil {
		return fail(fmt.Errorf("netlab: %w", err))
	}
	a.daemon.Stdout = &lockedWriter{a}
	if err := a.daemon.Start(); err != nil {
		return fail(fmt.Errorf("netlab: starting avahi-daemon: %w", err))
	}
	ready := make(chan struct{})
	go func() {
		defer close(a.stopped)
		sc := bufio.NewScanner(stderr)
		once := sync.Once{}
		for sc.Scan() {
			line := sc.Text()
			a.mu.Lock()
			a.log.WriteString(line + "\n")
			a.mu.Unlock()
			if strings.Contains(line, "Server startup complete") {
				once.Do(func() { close(ready) })
			}
		}
		a.daemon.Wait()
	}()
	t := time.NewTimer(15 * time.Second)
	defer t.Stop()
	select {
	case <-ready:
		return a, nil
	case <-a.stopped:
		return fail(fmt.Errorf("netlab: avahi-daemon in %s exited: %s", h.Name, a.Log()))
	case <-t.C:
		return fail(fmt.Errorf("netlab: avahi-daemon in %s not ready after 15 s: %s", h.Name, a.Log()))
	case <-ctx.Done():
		return fail(ctx.Err())
	}
}

type lockedWriter struct{ a *Avahi }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.a.mu.Lock()
	defer w.a.mu.Unlock()
	return w.a.log.Write(b)
}

func waitFile(ctx context.Context, path string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %v", path, within)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Env returns the environment a client of this daemon needs
// (DBUS_SYSTEM_BUS_ADDRESS of the private bus).
func (a *Avahi) Env() []string {
	return []string{"DBUS_SYSTEM_BUS_ADDRESS=unix:path=" + a.bus}
}

// Command returns a command (avahi-browse, avahi-publish, ...) that runs in
// the daemon's host and talks to it.
func (a *Avahi) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	c := a.h.Command(ctx, name, args...)
	c.Env = append(os.Environ(), a.Env()...)
	return c
}

// Log returns what the daemons wrote so far.
func (a *Avahi) Log() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.log.String()
}

// Close stops avahi-daemon and the bus and removes their files.
func (a *Avahi) Close() error {
	var errs []error
	if a.daemon != nil && a.daemon.Process != nil {
		a.daemon.Process.Signal(os.Interrupt)
		select {
		case <-a.stopped:
		case <-time.After(5 * time.Second):
			a.daemon.Process.Kill()
			<-a.stopped
		}
	}
	if a.dbus != nil && a.dbus.Process != nil {
		a.dbus.Process.Kill()
		a.dbus.Wait()
	}
	if err := os.RemoveAll(a.dir); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
