//go:build !linux

package main

import "os/exec"

// stayWithParent does nothing here: only Linux can tie a child's life to its
// parent's. bench stops its labs itself when it ends.
func stayWithParent(*exec.Cmd) {}
