package testenv

import (
	"net"
	"strconv"
	"testing"
	"time"
)

func TestRedisStopStart(t *testing.T) {
	r := StartRedis(t)
	if err := WaitTCP(r.Addr, time.Second); err != nil {
		t.Fatal(err)
	}
	r.Stop()
	if c, err := net.DialTimeout("tcp", r.Addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("redis still accepts connections after Stop")
	}
	r.Start()
	if err := WaitTCP(r.Addr, time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestPostgresStarts(t *testing.T) {
	p := StartPostgres(t)
	if err := WaitTCP(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Port)), time.Second); err != nil {
		t.Fatal(err)
	}
	if p.DSN == "" {
		t.Fatal("empty DSN")
	}
}
