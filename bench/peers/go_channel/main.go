// Peer benchmark: unbuffered channel ping-pong. Under GOMAXPROCS=1 (or `procs`), main sends on
// `ping` and receives on `pong`; one goroutine echoes every value back. Each round trip is two
// messages. With procs=2 it is the peer of `sync_bench channel_cross` (two hubs, two threads).
//
//	go_channel [round_trips] [procs] [select|threads]    default 5000000 1
//
// With `select`, every send and receive is a select over its channel and a second channel that
// is never ready: the peer of `sync_bench select_cross` (with procs=2).
//
// With `stream CAP` (or `stream_threads CAP`), main sends round_trips items into a channel of
// capacity CAP and one goroutine receives them all (with `stream_threads` each locked to its own
// thread): prints ns_per_item=, the peer of `sync_bench stream_cross`.
//
// With `threads`, each of the two goroutines locks itself to its own OS thread
// (runtime.LockOSThread), so every message crosses threads as grove's cross-hub one does. Plain
// GOMAXPROCS=2 does not: the woken goroutine goes to the waker's own P (runnext) and both run on
// one thread, ~1.07 CPUs busy (bench/RESULTS.md).
//
// Prints one line: ns_per_message=<float> (total time / (2 * round trips)).
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func pingPong(roundTrips int) float64 {
	return ping(roundTrips, false)
}

func threadsPingPong(roundTrips int) float64 {
	return ping(roundTrips, true)
}

// lockThreadIf locks the calling goroutine to its own OS thread when locked (the `threads`
// modes) and returns what undoes it.
func lockThreadIf(locked bool) func() {
	if !locked {
		return func() {}
	}
	runtime.LockOSThread()
	return runtime.UnlockOSThread
}

func ping(roundTrips int, locked bool) float64 {
	ping := make(chan int)
	pong := make(chan int)
	defer lockThreadIf(locked)()
	go func() {
		lockThreadIf(locked)
		for v := range ping {
			pong <- v
		}
	}()
	start := time.Now()
	for i := 0; i < roundTrips; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(start)
	close(ping)
	return float64(elapsed.Nanoseconds()) / float64(2*roundTrips)
}

func stream(items, capacity int, locked bool) float64 {
	ch := make(chan int, capacity)
	done := make(chan int)
	defer lockThreadIf(locked)()
	go func() {
		lockThreadIf(locked)
		sum := 0
		for v := range ch {
			sum += v
		}
		done <- sum
	}()
	start := time.Now()
	for i := 0; i < items; i++ {
		ch <- i
	}
	close(ch)
	if <-done != items*(items-1)/2 {
		fmt.Fprintln(os.Stderr, "go_channel stream: items lost or repeated")
		os.Exit(1)
	}
	return float64(time.Since(start).Nanoseconds()) / float64(items)
}

func selectPingPong(roundTrips int) float64 {
	ping := make(chan int)
	pong := make(chan int)
	idleEcho := make(chan int)
	idleMain := make(chan int)
	go func() {
		for {
			select {
			case v, ok := <-ping:
				if !ok {
					return
				}
				select {
				case pong <- v:
				case <-idleEcho:
				}
			case <-idleEcho:
			}
		}
	}()
	start := time.Now()
	for i := 0; i < roundTrips; i++ {
		select {
		case ping <- i:
		case <-idleMain:
		}
		select {
		case <-pong:
		case <-idleMain:
		}
	}
	elapsed := time.Since(start)
	close(ping)
	return float64(elapsed.Nanoseconds()) / float64(2*roundTrips)
}

func main() {
	procs := 1
	if len(os.Args) > 2 {
		v, err := strconv.Atoi(os.Args[2])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: go_channel [round_trips] [procs] [select|threads|stream CAP|stream_threads CAP]")
			os.Exit(2)
		}
		procs = v
	}
	runtime.GOMAXPROCS(procs)
	roundTrips := 5000000
	if len(os.Args) > 1 {
		v, err := strconv.Atoi(os.Args[1])
		if err != nil || v < 1 {
			fmt.Fprintln(os.Stderr, "usage: go_channel [round_trips] [procs] [select|threads|stream CAP|stream_threads CAP]")
			os.Exit(2)
		}
		roundTrips = v
	}
	if len(os.Args) > 3 && (os.Args[3] == "stream" || os.Args[3] == "stream_threads") {
		capacity := 0
		if len(os.Args) > 4 {
			v, err := strconv.Atoi(os.Args[4])
			if err == nil && v >= 0 {
				capacity = v
			} else {
				capacity = -1
			}
		}
		if len(os.Args) != 5 || capacity < 0 {
			fmt.Fprintln(os.Stderr, "usage: go_channel items procs stream|stream_threads capacity")
			os.Exit(2)
		}
		locked := os.Args[3] == "stream_threads"
		stream(roundTrips/10+1, capacity, locked) // warm-up
		fmt.Printf("ns_per_item=%.2f\n", stream(roundTrips, capacity, locked))
		return
	}
	run := pingPong
	if len(os.Args) > 3 {
		switch os.Args[3] {
		case "select":
			run = selectPingPong
		case "threads":
			run = threadsPingPong
		default:
			fmt.Fprintln(os.Stderr, "usage: go_channel [round_trips] [procs] [select|threads|stream CAP|stream_threads CAP]")
			os.Exit(2)
		}
	}
	run(roundTrips/10 + 1) // warm-up
	fmt.Printf("ns_per_message=%.2f\n", run(roundTrips))
}
