// Peer for bench/run_http_bench.sh: Go's net/http with the http_server sample's routes that the
// benchmark uses (GET / hello, /poll long poll, /publish?msg=x, /stats), keep-alive, on one
// core's worth of Go scheduler (GOMAXPROCS=1, the same single core as grove's hub).
//
//	go_http PORT
package main

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"sync"
)

var (
	mu      sync.Mutex
	arrived = sync.NewCond(&mu)
	serial  uint64
	latest  string
	waiting int
)

func main() {
	runtime.GOMAXPROCS(1)
	hello := []byte("hello from go\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(hello)
	})
	http.HandleFunc("/poll", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		waiting++
		seen := serial
		for serial == seen {
			arrived.Wait()
		}
		waiting--
		message := latest
		mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "%s\n", message)
	})
	http.HandleFunc("/publish", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		latest = r.URL.Query().Get("msg")
		serial++
		woken := waiting
		arrived.Broadcast()
		mu.Unlock()
		fmt.Fprintf(w, "published to %d waiting clients\n", woken)
	})
	http.HandleFunc("/stats", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "waiting %d\npublished %d\n", waiting, serial)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		panic(err)
	}
}
