// Peer benchmark: memory held by idle goroutines. Starts N goroutines that each block forever
// (on a channel receive by default, or in time.Sleep(1h) with mode "sleep"), then reports the
// growth of VmRSS per goroutine, both readings taken after runtime.GC().
//
//	go_idle_memory [N] [chan|sleep]    default N = 100000, chan
//
// Prints one line: rss_bytes_per_goroutine=<float>
package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// statusKiB returns a "Vm...:" field of /proc/self/status, in KiB.
func statusKiB(field string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		panic(err)
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, field+":") {
			parts := strings.Fields(line)
			v, err := strconv.ParseInt(parts[1], 10, 64)
			if err != nil {
				panic(err)
			}
			return v
		}
	}
	panic("no " + field + " in /proc/self/status")
}

func main() {
	n := 100000
	mode := "chan"
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: go_idle_memory [N] [chan|sleep]")
			os.Exit(2)
		}
		n = v
	}
	if len(os.Args) > 2 {
		mode = os.Args[2]
	}
	if mode != "chan" && mode != "sleep" {
		fmt.Fprintln(os.Stderr, "usage: go_idle_memory [N] [chan|sleep]")
		os.Exit(2)
	}

	block := make(chan struct{}) // never closed
	var started sync.WaitGroup
	started.Add(n)

	runtime.GC()
	before := statusKiB("VmRSS")
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			if mode == "sleep" {
				time.Sleep(time.Hour)
			} else {
				<-block
			}
		}()
	}
	started.Wait()
	// Done() comes just before the goroutine parks; give the last ones time to get there.
	time.Sleep(50 * time.Millisecond)
	runtime.GC()
	after := statusKiB("VmRSS")
	fmt.Printf("rss_bytes_per_goroutine=%.1f\n", float64((after-before)*1024)/float64(n))
}
