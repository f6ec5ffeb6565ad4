// Command fakecomfy stands in for ComfyUI in vidax's tests: it listens on
// --listen, answers /system_stats like ComfyUI, writes its address to
// --addr-file, logs lines to stdout and stderr, and on SIGTERM exits (or,
// with --ignore-term, logs and keeps running so the stop must kill it).
package main

import (
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "listen address")
	addrFile := flag.String("addr-file", "", "write the listen address here once listening")
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM")
	exitNow := flag.Bool("exit", false, "fail at once (a broken install)")
	flag.Parse()
	if *exitNow {
		fmt.Fprintln(os.Stderr, "Traceback: ModuleNotFoundError: No module named 'torch'")
		os.Exit(3)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "listen:", err)
		os.Exit(1)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/system_stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(os.Stdout, "GET /system_stats")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"system":{"os":"posix","comfyui_version":"0.3.40","python_version":"3.12"},"devices":[{"name":"cpu","type":"cpu","index":0}]}`)
	})
	go http.Serve(ln, mux)
	fmt.Fprintf(os.Stdout, "To see the GUI go to: http://%s\n", ln.Addr())
	fmt.Fprintln(os.Stderr, "Total VRAM 0 MB, total RAM 1024 MB")
	if *addrFile != "" {
		// Written after the handler is installed: a test that waits for
		// this file may send SIGTERM.
		tmp := *addrFile + ".tmp"
		_ = os.WriteFile(tmp, []byte(ln.Addr().String()), 0o644)
		_ = os.Rename(tmp, *addrFile)
	}
	for range sigs {
		if *ignoreTerm {
			fmt.Fprintln(os.Stderr, "SIGTERM ignored")
			continue
		}
		fmt.Fprintln(os.Stderr, "SIGTERM: shutting down")
		os.Exit(0)
	}
}
