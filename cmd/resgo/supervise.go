package main

// The supervisor. Go's runtime prints a full stack trace, hundreds of
// lines, when it dies of a fatal error (running out of memory, a
// concurrent map write, a panic in a goroutine that recovers nothing),
// and nothing in the process can prevent that: the runtime forces the
// traceback for its own throws. So on Unix resgo runs each command (but
// serve) in a child process of itself, which it waits for. The child
// keeps a copy of its stderr as os.Stderr, for all its messages, and
// makes its file descriptor 2, where only the runtime still writes, a
// pipe to the parent. The parent passes on what comes through the pipe
// until a line that starts a crash, keeps the rest, and when the child
// has ended saves that report to a file and says in one line what
// happened (supervise_unix.go).
//
// serve runs unsupervised: process managers (systemd, Kubernetes) signal
// and watch the process they started, a stop sent to a whole process
// group would reach a supervised server twice (and a second SIGTERM
// cuts serve's drain short), and a server's crash report belongs in its
// log whole.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// supervises says whether the command of args runs under the supervisor.
func supervises(args []string) bool {
	return len(args) > 0 && args[0] != "serve"
}

// crashStart says whether line starts the Go runtime's report of a fatal
// error: "panic: ", "fatal error: ", "runtime: out of memory: …", or a
// signal's name ("SIGSEGV: segmentation violation", "SIGQUIT: quit").
func crashStart(line string) bool {
	for _, p := range []string{"panic: ", "fatal error: ", "fatal: ", "runtime: ", "runtime/cgo: ", "unexpected signal"} {
		if strings.HasPrefix(line, p) {
			return true
		}
	}
	return signalLine.MatchString(line)
}

var (
	signalLine = regexp.MustCompile(`^SIG[A-Z0-9]+: `)
	oomLine    = regexp.MustCompile(`cannot allocate (\d+)-byte block \((\d+) in use\)`)
)

// crashMessage is the one line that tells of a crash of the runtime's
// report, saved at path (or not saved, for saveErr), in a run of the
// command cmd (for its hint on running out of memory).
func crashMessage(cmd, report, path string, saveErr error) string {
	// The head of the report, before its first empty line, says what
	// happened; the rest is stacks.
	head, _, _ := strings.Cut(strings.TrimLeft(report, "\n"), "\n\n")
	lines := strings.Split(head, "\n")
	what := lines[0]
	for _, l := range lines {
		if strings.HasPrefix(l, "fatal error: ") || strings.HasPrefix(l, "panic: ") {
			what = l
			break
		}
	}
	where := fmt.Sprintf("the Go runtime's report is saved in %s", path)
	if saveErr != nil {
		where = fmt.Sprintf("the Go runtime's report could not be saved: %v", saveErr)
	}
	switch {
	case strings.Contains(head, "out of memory"):
		detail := "(" + what + ")"
		if m := oomLine.FindStringSubmatch(head); m != nil {
			want, _ := strconv.ParseInt(m[1], 10, 64)
			used, _ := strconv.ParseInt(m[2], 10, 64)
			detail = fmt.Sprintf("the Go runtime could not allocate %s more, with %s in use", byteSize(want), byteSize(used))
		}
		hint := "try a smaller --batch or fewer --threads"
		if cmd == "predict" { // its memory goes with the pictures' size
			hint = "try smaller pictures"
		}
		return fmt.Sprintf("resgo: out of memory: %s; %s, or free some memory (%s)", detail, hint, where)
	case strings.HasPrefix(what, "SIGQUIT: "):
		return fmt.Sprintf("resgo: quit (SIGQUIT); %s", where)
	}
	if saveErr != nil {
		return fmt.Sprintf("resgo: internal error: %s (a bug: please report it; %s)", what, where)
	}
	return fmt.Sprintf("resgo: internal error: %s (a bug: please report it with the Go runtime's report saved in %s)", what, path)
}
