package loadtest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// TestRunClosesItsIdleConnections: the client Run makes itself is closed
// when Run returns; keep-alive connections do not linger for the
// transport's IdleConnTimeout. The target is a loopback httptest server
// (what it answers does not matter here: its open connections are counted).
func TestRunClosesItsIdleConnections(t *testing.T) {
	var mu sync.Mutex
	open := map[net.Conn]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusNotFound)
	}))
	srv.Config.ConnState = func(c net.Conn, s http.ConnState) {
		mu.Lock()
		defer mu.Unlock()
		switch s {
		case http.StateNew:
			open[c] = true
		case http.StateClosed, http.StateHijacked:
			delete(open, c)
		}
	}
	srv.Start()
	defer srv.Close()
	sh := DefaultShape(ProfileConstant)
	sh.Duration = time.Second
	if _, err := Run(context.Background(), Config{Target: TargetAPI, Shape: sh, APIRate: 10, Clips: clips(t, "1s"),
		Gateway: URLGateway(srv.URL), Cooldown: 0}); err != nil {
		t.Fatal(err)
	}
	// the server sees the client's close a moment later: poll for it, well
	// within the transport's 30 s IdleConnTimeout
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := len(open)
		mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connection(s) still open 5 s after Run returned", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
