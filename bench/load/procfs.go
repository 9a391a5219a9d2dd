package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// memStatus is a process's resident memory from /proc/<pid>/status.
type memStatus struct {
	RSS  int64 // VmRSS: resident now, bytes
	Peak int64 // VmHWM: the most it was ever resident, bytes
	// Anon and File split RSS: the heap, stacks and runtime on one side,
	// the pages of the binary and other mapped files on the other.
	Anon, File int64
}

// readMem reads VmRSS and VmHWM of pid (Linux only).
func readMem(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, fmt.Errorf("reading the memory of process %d: %w", pid, err)
	}
	return parseStatus(b), nil
}

func parseStatus(b []byte) memStatus {
	var m memStatus
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.Peak
		case "RssAnon":
			dst = &m.Anon
		case "RssFile":
			dst = &m.File
		default:
			continue
		}
		f := strings.Fields(v) // "12345 kB"
		if len(f) >= 1 {
			if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				*dst = n << 10
			}
		}
	}
	return m
}

// clockTick is the kernel's USER_HZ, the unit of utime and stime in
// /proc/<pid>/stat; 100 on every Linux configuration Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime reads the user plus system CPU time pid has used so far.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the CPU time of process %d: %w", pid, err)
	}
	return parseStat(b)
}

func parseStat(b []byte) (time.Duration, error) {
	// The command name (field 2) is in parentheses and may hold spaces:
	// fields are counted after its closing parenthesis.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc stat line %q", b)
	}
	f := strings.Fields(string(b[i+1:]))
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc stat line %q", b)
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc stat line %q", b)
	}
	return time.Duration(u+s) * clockTick, nil
}

// peerPorts returns the local ports of IPv4 TCP connections whose other end
// is port on 127.0.0.1, in any state, TIME_WAIT included: the set of
// connections made to a server. Both ends of a loopback connection are
// listed in /proc/net/tcp; the server's end (local port == port) yields the
// client's port from its remote address, so each connection appears once.
func peerPorts(port int) (map[int]bool, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return nil, fmt.Errorf("listing TCP connections: %w", err)
	}
	defer f.Close()
	return parsePeerPorts(bufio.NewScanner(f), port), nil
}

func parsePeerPorts(sc *bufio.Scanner, port int) map[int]bool {
	return parsePeerPortsIn(sc, port, false)
}

// establishedPeers is peerPorts without the connections that are closed or
// closing (TIME_WAIT and the rest): the ones open now.
func establishedPeers(port int) (int, error) {
	f, err := os.Open("/proc/net/tcp")
	if err != nil {
		return 0, fmt.Errorf("listing TCP connections: %w", err)
	}
	defer f.Close()
	return len(parsePeerPortsIn(bufio.NewScanner(f), port, true)), nil
}

func parsePeerPortsIn(sc *bufio.Scanner, port int, established bool) map[int]bool {
	out := map[int]bool{}
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st ...
		if len(f) < 4 || !strings.HasSuffix(f[0], ":") {
			continue
		}
		lp, ok1 := hexPort(f[1])
		rp, ok2 := hexPort(f[2])
		if !ok1 || !ok2 || f[3] == "0A" || (established && f[3] != "01") { // 0A: LISTEN, 01: ESTABLISHED
			continue
		}
		switch port {
		case rp:
			out[lp] = true
		case lp:
			out[rp] = true
		}
	}
	return out
}

// hexPort reads the port of "0100007F:1F90".
func hexPort(addr string) (int, bool) {
	_, p, ok := strings.Cut(addr, ":")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(p, 16, 16)
	return int(n), err == nil
}

// newPorts counts the ports in after that are not in before.
func newPorts(before, after map[int]bool) int {
	n := 0
	for p := range after {
		if !before[p] {
			n++
		}
	}
	return n
}

// fdCount is how many file descriptors pid holds open.
func fdCount(pid int) (int, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return 0, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	return len(names), err
}
