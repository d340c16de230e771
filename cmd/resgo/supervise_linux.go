package main

import "syscall"

func init() {
	// If the supervisor dies (killed with SIGKILL, say), its child gets
	// SIGTERM: a training run saves its checkpoint and stops rather than
	// going on unseen.
	onParentDeath = func(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGTERM }
	oomKills = cgroupOOMKills
}
