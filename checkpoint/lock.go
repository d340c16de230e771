package checkpoint

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"resgo/internal/oserr"
)

// LockFile is the name of the file in a checkpoint folder that a run
// locks for as long as it writes there (see LockDir). It holds the
// locking process's ID.
const LockFile = ".resgo.lock"

// Lock is a checkpoint folder held by this process (see LockDir).
type Lock struct {
	f    *os.File
	path string
}

// BusyError is LockDir's error when another process holds the folder.
type BusyError struct {
	Dir string
	PID int // the holder's process ID, 0 if unknown
}

// Error says which folder is busy and who holds it.
func (e *BusyError) Error() string {
	who := "another process"
	if e.PID > 0 {
		who = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("checkpoint folder %s is in use by another resgo run (%s, which holds %s): "+
		"wait for it to end, or choose another folder", e.Dir, who, filepath.Join(e.Dir, LockFile))
}

// LockDir locks the folder dir (which must exist) for this process with
// an OS file lock on dir/LockFile, so that two runs never write
// checkpoints into the same folder at once. The lock lasts until Unlock
// or until the process ends, however it ends (the OS releases it on a
// crash or SIGKILL). If another process holds it, LockDir returns a
// *BusyError naming that process.
func LockDir(dir string) (*Lock, error) {
	path := filepath.Join(dir, LockFile)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("cannot lock the checkpoint folder %s: %v", dir, oserr.Cause(err))
		}
		if err := lockFile(f); err != nil {
			f.Close()
			if errors.Is(err, errLocked) {
				b, _ := os.ReadFile(path)
				pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
				return nil, &BusyError{Dir: dir, PID: pid}
			}
			return nil, fmt.Errorf("cannot lock the checkpoint folder %s: %v", dir, err)
		}
		// The holder before us may have removed the file (Unlock) between
		// our open and our lock: then ours is locked but nameless, and
		// another run could lock a new file of that name. Try again.
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(fi, pi) {
			f.Close()
			continue
		}
		// Ours: record who holds it, for the message another run gives.
		if err := f.Truncate(0); err == nil {
			f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
		}
		return &Lock{f: f, path: path}, nil
	}
}

// Unlock releases the folder and removes the lock file (a run that
// crashed leaves it, harmlessly: the OS has released its lock).
func (l *Lock) Unlock() {
	if l != nil && l.f != nil {
		os.Remove(l.path) // while still locked: see LockDir
		l.f.Close()       // closing releases the lock
		l.f = nil
	}
}

// errLocked is lockFile's error when another process holds the lock.
var errLocked = errors.New("locked by another process")

// RemoveStale removes from dir the temporary files that an interrupted
// WriteFile leaves (".NAME.tmp-*", for a SIGKILL or a power cut between
// its create and its rename) and returns their names. Call it only while
// holding dir's lock (LockDir), when no save of this process is under way.
func RemoveStale(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, e := range ents {
		if n := e.Name(); e.Type().IsRegular() && isTemp(n) {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return removed, err
			}
			removed = append(removed, n)
		}
	}
	return removed, nil
}

// isTemp says whether name is one of WriteFile's temporary files:
// "." + a file's name + ".tmp-" + os.CreateTemp's random digits.
func isTemp(name string) bool {
	i := strings.LastIndex(name, tempInfix)
	if !strings.HasPrefix(name, ".") || i < 2 || i+len(tempInfix) == len(name) {
		return false
	}
	for _, c := range name[i+len(tempInfix):] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
