// Go's os/exec: spawn + wait N /bin/true children, C at a time (a buffered channel as the
// semaphore), the peer of grove's `process_bench spawn N C`.
//
//	go_exec N C
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"time"
)

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: go_exec N C")
		os.Exit(2)
	}
	n, err1 := strconv.Atoi(os.Args[1])
	c, err2 := strconv.Atoi(os.Args[2])
	if err1 != nil || err2 != nil || n <= 0 || c <= 0 {
		fmt.Fprintln(os.Stderr, "go_exec: N and C must be positive numbers")
		os.Exit(2)
	}
	for i := 0; i < 20; i++ { // warm up
		exec.Command("/bin/true").Run()
	}
	slots := make(chan struct{}, c)
	var wg sync.WaitGroup
	failed := 0
	var mu sync.Mutex
	start := time.Now()
	for i := 0; i < n; i++ {
		slots <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := exec.Command("/bin/true").Run(); err != nil {
				mu.Lock()
				failed++
				mu.Unlock()
			}
			<-slots
		}()
	}
	wg.Wait()
	us := float64(time.Since(start).Microseconds())
	fmt.Printf("total_ms=%.1f us_per_child=%.1f failed=%d\n", us/1000, us/float64(n), failed)
}
