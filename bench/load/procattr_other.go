//go:build !linux

package main

import "os/exec"

// setDeathSignal does nothing off Linux: children are stopped by the
// benchmark's own cleanup only.
func setDeathSignal(*exec.Cmd) {}
