package sshtest

import (
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
)

// directTCPIP connects a direct-tcpip channel to the address it asks for,
// as seen from this machine.
func (s *Server) directTCPIP(nch ssh.NewChannel) {
	defer s.wg.Done()
	var p struct {
		Host     string
		Port     uint32
		OrigHost string
		OrigPort uint32
	}
	if err := ssh.Unmarshal(nch.ExtraData(), &p); err != nil {
		nch.Reject(ssh.ConnectionFailed, "sshtest: bad direct-tcpip request")
		return
	}
	addr := net.JoinHostPort(p.Host, strconv.Itoa(int(p.Port)))
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		nch.Reject(ssh.ConnectionFailed, err.Error())
		return
	}
	if !s.track(conn) {
		conn.Close()
		nch.Reject(ssh.ConnectionFailed, "sshtest: server closing")
		return
	}
	defer s.untrack(conn)
	defer conn.Close()
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	done := make(chan struct{}, 3)
	go func() {
		// The requests end when the channel is closed: the TCP side goes too.
		ssh.DiscardRequests(reqs)
		conn.Close()
		done <- struct{}{}
	}()
	go func() {
		io.Copy(conn, ch)
		if tc, ok := conn.(*net.TCPConn); ok {
			tc.CloseWrite()
		}
		done <- struct{}{}
	}()
	go func() {
		io.Copy(ch, conn)
		ch.CloseWrite()
		done <- struct{}{}
	}()
	<-done
	<-done
	ch.Close()
	conn.Close()
	<-done
}
