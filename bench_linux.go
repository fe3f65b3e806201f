package main

import (
	"os/exec"
	"syscall"
)

// stayWithParent ties a lab process to bench: it gets SIGTERM if bench dies
// without stopping it (kill -9), and it is not in the terminal's process
// group, so Ctrl-C reaches bench alone, which stops its clients first and
// then the lab.
func stayWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM, Setpgid: true}
}
