// Peer for bench/run_http_bench.sh: Go's net/http answering GET / with a short text, keep-alive,
// on one OS thread's worth of Go scheduler (GOMAXPROCS=1, the same single core as grove's hub).
//
//	go_http PORT
package main

import (
	"net/http"
	"os"
	"runtime"
)

func main() {
	runtime.GOMAXPROCS(1)
	body := []byte("hello from go\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(body)
	})
	if err := http.ListenAndServe("127.0.0.1:"+os.Args[1], nil); err != nil {
		panic(err)
	}
}
