// Command discotrace keeps a namespace LAN of udpservers up (internal/netlab)
// while a shell command runs, so that one browse can be traced from outside
// (perf, strace) on a lab like discobench's: host 0 browses, hosts 1..N
// serve. The command sees the browser's namespace as $BROWSER_NS, the
// servers' as $SERVER_NS (space-separated) and their udpserver PIDs as
// $SERVER_PIDS. It must run as root; nothing leaves the lab's namespaces.
//
//	sudo go run ./bench/discotrace -bin /tmp/discobench -- sh -c 'ip netns exec $BROWSER_NS udpcli discover -n 10 -I eth0'
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/udpkit/udpkit/internal/netlab"
)

func main() {
	servers := flag.Int("servers", 10, "servers on the LAN")
	bin := flag.String("bin", "/tmp/discobench", "directory with udpserver")
	startup := flag.Duration("startup", 3*time.Second, "wait after starting the servers")
	loss := flag.Int("loss", 0, "loss rate, percent")
	flag.Parse()
	if flag.NArg() == 0 {
		fatal(fmt.Errorf("usage: discotrace [flags] -- command [args]"))
	}
	if err := netlab.Available(); err != nil {
		fatal(err)
	}
	ctx := context.Background()
	lab, err := netlab.New(ctx, netlab.Config{Hosts: *servers + 1, Loss: *loss})
	if err != nil {
		fatal(err)
	}
	defer lab.Close()
	var procs []*exec.Cmd
	defer func() {
		for _, p := range procs {
			p.Process.Signal(syscall.SIGTERM)
		}
		for _, p := range procs {
			p.Wait()
		}
	}()
	var nss, pids []string
	for i := 1; i <= *servers; i++ {
		h := lab.Host(i)
		// Not through `ip netns exec`: its PID is udpserver's own only
		// after exec, and the PIDs given must be the servers'.
		c := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+h.Name, filepath.Join(*bin, "udpserver"),
			"--quiet", "--rate-limit", "0", "--instance", fmt.Sprintf("s%02d", i), "-I", "eth0")
		if err := c.Start(); err != nil {
			fatal(err)
		}
		procs = append(procs, c)
		nss = append(nss, h.Name)
		pids = append(pids, strconv.Itoa(c.Process.Pid))
	}
	time.Sleep(*startup)
	c := exec.Command(flag.Arg(0), flag.Args()[1:]...)
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.Env = append(os.Environ(), "BROWSER_NS="+lab.Host(0).Name, "SERVER_NS="+strings.Join(nss, " "),
		"SERVER_PIDS="+strings.Join(pids, " "), "PATH="+*bin+":"+os.Getenv("PATH"))
	if err := c.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "discotrace:", err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "discotrace:", err)
	os.Exit(1)
}
