package main

import (
	"bufio"
	"bytes"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// memoryAvailable returns how many more bytes this process can expect to
// allocate, and what limits it: the least of the machine's available
// memory (/proc/meminfo's MemAvailable), the address space left under
// RLIMIT_AS (ulimit -v) and the room left in the control group's
// memory.max. It returns 0 if none can be read.
func memoryAvailable() (int64, string) {
	var best int64
	var source string
	take := func(n int64, why string) {
		if n >= 0 && (best == 0 || n < best) {
			best, source = max(n, 1), why
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if kb, ok := procField(b, "MemAvailable:"); ok {
			take(kb<<10, "the machine's available memory, /proc/meminfo's MemAvailable")
		}
	}
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err == nil && rl.Cur != ^uint64(0) && rl.Cur < 1<<62 {
		if b, err := os.ReadFile("/proc/self/status"); err == nil {
			if kb, ok := procField(b, "VmSize:"); ok {
				take(int64(rl.Cur)-kb<<10, "the address-space limit, ulimit -v")
			}
		}
	}
	if max, used, ok := cgroupMemory(); ok {
		take(max-used, "the control group's memory.max")
	}
	return best, source
}

// memoryLimit returns the hard limit on this process's memory, RLIMIT_AS
// or the control group's memory.max, whichever is less; 0 if there is
// none.
func memoryLimit() int64 {
	var limit int64
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_AS, &rl); err == nil && rl.Cur != ^uint64(0) && rl.Cur < 1<<62 {
		limit = int64(rl.Cur)
	}
	if max, _, ok := cgroupMemory(); ok && (limit == 0 || max < limit) {
		limit = max
	}
	return limit
}

// cgroupMemory reads the cgroup v2 memory limit and usage of this
// process's group.
func cgroupMemory() (limit, used int64, ok bool) {
	dir := cgroupDir()
	if dir == "" {
		return 0, 0, false
	}
	read := func(name string) (int64, bool) {
		b, err := os.ReadFile(dir + "/" + name)
		if err != nil {
			return 0, false
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return n, err == nil
	}
	limit, ok1 := read("memory.max") // "max" when unlimited: no number
	used, ok2 := read("memory.current")
	return limit, used, ok1 && ok2
}

// cgroupDir returns the folder of this process's cgroup v2 control
// group, or "" if there is none.
func cgroupDir() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if p, found := strings.CutPrefix(line, "0::"); found {
			return "/sys/fs/cgroup" + p
		}
	}
	return ""
}

// cgroupOOMKills returns how many processes of this process's control
// group the kernel's out-of-memory killers have killed (memory.events'
// oom_kill), or -1 if that is not known.
func cgroupOOMKills() int64 {
	dir := cgroupDir()
	if dir == "" {
		return -1
	}
	b, err := os.ReadFile(dir + "/memory.events")
	if err != nil {
		return -1
	}
	if n, ok := procField(b, "oom_kill "); ok {
		return n
	}
	return -1
}

// procField returns the number after key in a /proc file of "Key: N kB"
// lines.
func procField(b []byte, key string) (int64, bool) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}
