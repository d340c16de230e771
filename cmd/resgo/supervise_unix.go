//go:build unix

package main

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// superviseEnv marks the child that the supervisor starts; its value is
// the supervisor's process ID.
const superviseEnv = "RESGO_SUPERVISOR"

// The child's file descriptor for the pipe to the supervisor (its first
// ExtraFiles entry).
const pipeFD = 3

// runtimeStderr is the original os.Stderr, whose descriptor 2 the child
// turns into the pipe to the supervisor. Kept referenced: the finalizer
// of an unreachable *os.File would close descriptor 2.
var runtimeStderr *os.File

// onParentDeath sets what the kernel sends the child if the supervisor
// dies first, where the OS offers that (supervise_linux.go).
var onParentDeath = func(*syscall.SysProcAttr) {}

// oomKills, if set (supervise_linux.go), counts the processes that the
// kernel's out-of-memory killer has killed in this control group; -1 if
// unknown.
var oomKills func() int64

// fromSupervisor says whether this process is the supervisor's child,
// and if so makes os.Stderr a copy of its standard error and descriptor
// 2 the pipe to the supervisor, where the runtime's fatal errors go. A
// marked process that lacks the pipe or whose parent is not the
// supervisor runs as it is (but never supervises in turn).
func fromSupervisor() bool {
	v, ok := os.LookupEnv(superviseEnv)
	if !ok {
		return false
	}
	os.Unsetenv(superviseEnv) // not for the programs this one runs
	var st unix.Stat_t
	if v != strconv.Itoa(os.Getppid()) || unix.Fstat(pipeFD, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return true
	}
	fd, err := unix.FcntlInt(2, unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return true
	}
	if err := unix.Dup2(pipeFD, 2); err != nil {
		unix.Close(fd)
		return true
	}
	unix.Close(pipeFD)
	unix.SetNonblock(2, false) // the runtime's writes must not fail with EAGAIN
	runtimeStderr = os.Stderr
	os.Stderr = os.NewFile(uintptr(fd), "/dev/stderr")
	log.SetOutput(os.Stderr)
	return true
}

// supervise runs resgo with args as a child process and waits for it,
// passing on SIGTERM and SIGHUP (and SIGINT and SIGQUIT that cannot have
// come from the terminal, which signals the child itself), and turns a
// crash of the child's runtime into one line and a report file. It
// returns the exit status, or false if the child could not be started
// (then the command runs in this process).
func supervise(args []string) (int, bool) {
	exe, err := os.Executable()
	if err != nil {
		return 0, false
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, false
	}
	defer r.Close()
	cmd := exec.Command(exe)
	cmd.Args = os.Args // the child's os.Args[0] names resgo as typed
	cmd.Env = append(os.Environ(), superviseEnv+"="+strconv.Itoa(os.Getpid()))
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{}
	onParentDeath(cmd.SysProcAttr)
	// The parent-death signal follows the thread that started the child:
	// keep this goroutine on it for good.
	runtime.LockOSThread()
	// A signal ignored from the start (nohup's SIGHUP, SIGINT in a
	// script's background job) stays ignored, and the child inherits that.
	sigs := make(chan os.Signal, 4)
	for _, s := range []os.Signal{syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP} {
		if !signal.Ignored(s) {
			signal.Notify(sigs, s)
		}
	}
	killsBefore := int64(-1)
	if oomKills != nil {
		killsBefore = oomKills()
	}
	if err := cmd.Start(); err != nil {
		signal.Stop(sigs)
		w.Close()
		return 0, false
	}
	w.Close()
	reported := make(chan string, 1)
	go func() { reported <- relay(r, os.Stderr) }()
	waited := make(chan struct{})
	go func() { cmd.Wait(); close(waited) }()
	for done := false; !done; {
		select {
		case s := <-sigs:
			if (s == syscall.SIGINT || s == syscall.SIGQUIT) && terminalForeground() {
				continue // Ctrl-C or Ctrl-\: the terminal signalled the child too
			}
			cmd.Process.Signal(s)
		case <-waited:
			done = true
		}
	}
	report := <-reported
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	// The runtime dies of a fatal error with status 2 (or a signal, with
	// GOTRACEBACK=crash); after any other end what came is no crash's.
	crashed := report != "" && (ws.Signaled() || ws.ExitStatus() == 2)
	if report != "" && !crashed {
		io.WriteString(os.Stderr, report)
	}
	switch {
	case crashed:
		path, err := saveReport(args, report)
		sub := ""
		if len(args) > 0 {
			sub = args[0]
		}
		fmt.Fprintln(os.Stderr, crashMessage(sub, report, path, err))
		return 1, true // a failed run (README, "When things go wrong")
	case ws.Signaled() && ws.Signal() == syscall.SIGKILL:
		fmt.Fprintln(os.Stderr, killedMessage(killsBefore))
		return 128 + int(syscall.SIGKILL), true
	case ws.Signaled():
		return dieOf(ws.Signal()), true
	}
	return ws.ExitStatus(), true
}

// relay copies what the child's runtime writes to w until a line that
// starts a crash (crashStart), and returns that line and the rest.
func relay(r io.Reader, w io.Writer) string {
	br := bufio.NewReader(r)
	var report []byte
	crashed := false
	for {
		line, err := br.ReadString('\n')
		crashed = crashed || crashStart(line)
		if crashed {
			report = append(report, line...)
		} else if line != "" {
			io.WriteString(w, line)
		}
		if err != nil {
			return string(report)
		}
	}
}

// killedMessage says that the child was killed by SIGKILL, and whether
// by the kernel's out-of-memory killer if the control group's count
// (before the child started: before) tells.
func killedMessage(before int64) string {
	after := int64(-1)
	if oomKills != nil {
		after = oomKills()
	}
	const hint = "try a smaller --batch or fewer --threads, or free some memory"
	switch {
	case before >= 0 && after > before:
		return "resgo: killed by the kernel's out-of-memory killer (SIGKILL): the machine ran out of memory; " + hint
	case before >= 0 && after >= 0:
		return "resgo: killed by SIGKILL"
	}
	return "resgo: killed by SIGKILL (the kernel's out-of-memory killer sends it when memory runs out: then " + hint + ")"
}

// terminalForeground says whether this process's group is the foreground
// group of its controlling terminal, to which the terminal sends Ctrl-C's
// SIGINT and Ctrl-\'s SIGQUIT: then the child, in the same group, has had
// the signal too.
func terminalForeground() bool {
	f, err := os.Open("/dev/tty")
	if err != nil {
		return false
	}
	defer f.Close()
	pg, err := unix.IoctlGetInt(int(f.Fd()), unix.TIOCGPGRP)
	return err == nil && pg == unix.Getpgrp()
}

// dieOf ends this process with the signal that ended the child, as the
// child would have ended without a supervisor (a shell stops a script
// whose command died of SIGINT), and returns the shell's status for it
// if the signal does not end the process.
func dieOf(sig syscall.Signal) int {
	switch sig {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP:
		signal.Reset(sig)
		syscall.Kill(os.Getpid(), sig)
		time.Sleep(time.Second)
	}
	return 128 + int(sig)
}
