package testenv

import (
	"bufio"
	"errors"
	"net"
	"strconv"
	"strings"
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

// Kill and RemoveData: the restarted server has lost what it held.
func TestRedisKillRemoveData(t *testing.T) {
	r := StartRedis(t)
	if err := redisCommand(t, r.Addr, "SET k v"); err != nil {
		t.Fatal(err)
	}
	r.Kill()
	r.RemoveData()
	r.Start()
	reply, err := redisReply(t, r.Addr, "EXISTS k")
	if err != nil {
		t.Fatal(err)
	}
	if reply != ":0" {
		t.Fatalf("EXISTS k after Kill+RemoveData+Start = %q, want :0", reply)
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

// redisReply sends one inline command and returns the first reply line.
func redisReply(t *testing.T, addr, cmd string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	if err := c.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	if _, err := c.Write([]byte(cmd + "\r\n")); err != nil {
		return "", err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(line), err
}

func redisCommand(t *testing.T, addr, cmd string) error {
	t.Helper()
	reply, err := redisReply(t, addr, cmd)
	if err == nil && strings.HasPrefix(reply, "-") {
		err = errors.New(reply)
	}
	return err
}
