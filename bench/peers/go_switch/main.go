// Peer benchmark: goroutine switch. Under GOMAXPROCS=1, two goroutines call runtime.Gosched()
// in a loop, so each call hands the only P to the other goroutine (main is blocked in
// wg.Wait and not runnable).
//
//	go_switch [yields_per_goroutine]    default 10000000
//
// Prints one line: ns_per_switch=<float> (total time / total Gosched calls of both).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func pingPong(yields int) float64 {
	var wg sync.WaitGroup
	wg.Add(2)
	body := func() {
		for i := 0; i < yields; i++ {
			runtime.Gosched()
		}
		wg.Done()
	}
	start := time.Now()
	go body()
	go body()
	wg.Wait()
	return float64(time.Since(start).Nanoseconds()) / float64(2*yields)
}

func main() {
	runtime.GOMAXPROCS(1)
	yields := 10000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: go_switch [yields_per_goroutine]")
			os.Exit(2)
		}
		yields = v
	}
	pingPong(yields/10 + 1) // warm-up
	fmt.Printf("ns_per_switch=%.2f\n", pingPong(yields))
}
