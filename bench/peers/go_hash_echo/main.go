// Go peer of bench/cores_echo.cpp (bench/run_cores_bench.sh): a goroutine per connection; each
// SIZE-byte request is hashed ROUNDS times over with the same FNV-1a loop, the hash goes into
// the reply's first 8 bytes, SIZE bytes go back. Run with GOMAXPROCS=1 or 2.
//
//	go_hash_echo ROUNDS SIZE PORT
//	go_hash_echo --time ROUNDS SIZE    prints us_per_request=X (the handler's CPU cost)
package main

import (
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sort"
	"strconv"
	"syscall"
	"unsafe"
)

func fnv1a(data []byte, rounds int) uint64 {
	h := uint64(14695981039346656037)
	for r := 0; r < rounds; r++ {
		for _, b := range data {
			h ^= uint64(b)
			h *= 1099511628211
		}
	}
	return h
}

func answer(request []byte, rounds int) {
	h := fnv1a(request, rounds)
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], h)
	copy(request, b[:])
}

func threadCPU() float64 {
	var ts syscall.Timespec
	// CLOCK_THREAD_CPUTIME_ID = 3 (the goroutine is locked to its thread while it measures).
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, 3, uintptr(unsafe.Pointer(&ts)), 0)
	return float64(ts.Sec)*1e9 + float64(ts.Nsec)
}

func atoi(s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		fmt.Fprintf(os.Stderr, "go_hash_echo: bad number %q\n", s)
		os.Exit(2)
	}
	return n
}

func main() {
	if len(os.Args) == 4 && os.Args[1] == "--time" {
		runtime.LockOSThread()
		rounds, size := atoi(os.Args[2]), atoi(os.Args[3])
		request := make([]byte, size)
		var batches []float64
		for b := 0; b < 7; b++ {
			t0 := threadCPU()
			for i := 0; i < 200; i++ {
				answer(request, rounds)
			}
			batches = append(batches, (threadCPU()-t0)/200/1e3)
		}
		sort.Float64s(batches)
		fmt.Printf("us_per_request=%.2f\n", batches[len(batches)/2])
		return
	}
	if len(os.Args) != 4 {
		fmt.Fprintln(os.Stderr, "usage: go_hash_echo ROUNDS SIZE PORT | go_hash_echo --time ROUNDS SIZE")
		os.Exit(2)
	}
	rounds, size, port := atoi(os.Args[1]), atoi(os.Args[2]), os.Args[3]
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go_hash_echo:", err)
		os.Exit(1)
	}
	for {
		conn, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			defer c.Close()
			request := make([]byte, size)
			for {
				if _, err := io.ReadFull(c, request); err != nil {
					return
				}
				answer(request, rounds)
				if _, err := c.Write(request); err != nil {
					return
				}
			}
		}(conn)
	}
}
