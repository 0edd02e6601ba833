package sshtest

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/pkg/sftp"
	"golang.org/x/crypto/ssh"
)

// session serves one session channel: env requests, then one exec or
// sftp subsystem request.
func (s *Server) session(nch ssh.NewChannel) {
	defer s.wg.Done()
	ch, reqs, err := nch.Accept()
	if err != nil {
		return
	}
	defer ch.Close()
	var env []string
	for req := range reqs {
		switch req.Type {
		case "env":
			var kv struct{ Name, Value string }
			if err := ssh.Unmarshal(req.Payload, &kv); err != nil {
				req.Reply(false, nil)
				continue
			}
			env = append(env, kv.Name+"="+kv.Value)
			req.Reply(true, nil)
		case "exec":
			var p struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil {
				req.Reply(false, nil)
				continue
			}
			s.execs.Add(1)
			req.Reply(true, nil)
			s.exec(ch, reqs, p.Command, env)
			return
		case "subsystem":
			var p struct{ Name string }
			if err := ssh.Unmarshal(req.Payload, &p); err != nil || p.Name != "sftp" {
				req.Reply(false, nil)
				continue
			}
			s.sftps.Add(1)
			req.Reply(true, nil)
			s.sftp(ch, reqs)
			return
		default: // pty-req, shell, signal before exec, ...
			req.Reply(false, nil)
		}
	}
}

// exec runs command through the shell with the channel as its stdio and
// reports its exit. Signal requests go to its process group; a channel
// closed by the client (or a dropped connection) kills the group.
func (s *Server) exec(ch ssh.Channel, reqs <-chan *ssh.Request, command string, env []string) {
	cmd := exec.Command(s.cfg.Shell, "-c", command)
	cmd.Dir = s.cfg.Dir
	cmd.Env = append(append(os.Environ(), s.cfg.Env...), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Stdout = ch
	cmd.Stderr = ch.Stderr()
	// A background process that keeps the output pipes open must not keep
	// the session open for ever.
	cmd.WaitDelay = 2 * time.Second
	stdin, err := cmd.StdinPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		fmt.Fprintf(ch.Stderr(), "sshtest: %v\n", err)
		sendExit(ch, 127)
		return
	}
	pgid := cmd.Process.Pid
	exited := make(chan struct{})
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		io.Copy(stdin, ch)
		stdin.Close()
	}()
	go func() {
		defer s.wg.Done()
		for req := range reqs {
			if req.Type != "signal" {
				req.Reply(false, nil)
				continue
			}
			var p struct{ Signal string }
			ok := ssh.Unmarshal(req.Payload, &p) == nil
			sig, known := signals[p.Signal]
			if ok && known {
				select {
				case <-exited:
				default:
					syscall.Kill(-pgid, sig)
				}
			}
			req.Reply(ok && known, nil)
		}
		select {
		case <-exited:
		default: // the client went away while the command runs
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}()
	err = cmd.Wait()
	close(exited)
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	switch {
	case ws.Signaled():
		sendSignal(ch, ws.Signal())
	case err != nil && cmd.ProcessState == nil:
		sendExit(ch, 127)
	default:
		sendExit(ch, ws.ExitStatus())
	}
	ch.CloseWrite()
}

func sendExit(ch ssh.Channel, code int) {
	ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(code)}))
}

func sendSignal(ch ssh.Channel, sig syscall.Signal) {
	name := "KILL"
	for n, s := range signals {
		if s == sig {
			name = n
		}
	}
	ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
		Signal     string
		CoreDumped bool
		Error      string
		Lang       string
	}{name, false, "", ""}))
}

// signals are the names of RFC 4254 signal requests.
var signals = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE, "HUP": syscall.SIGHUP,
	"ILL": syscall.SIGILL, "INT": syscall.SIGINT, "KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE,
	"QUIT": syscall.SIGQUIT, "SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// sftp serves the sftp subsystem on real paths, relative ones from Dir.
func (s *Server) sftp(ch ssh.Channel, reqs <-chan *ssh.Request) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ssh.DiscardRequests(reqs)
	}()
	var rwc io.ReadWriteCloser = ch
	if s.cfg.FullDisk != nil {
		rwc = newFullDiskChannel(ch, s.cfg.FullDisk)
	}
	srv, err := sftp.NewServer(rwc, sftp.WithServerWorkingDirectory(s.cfg.Dir), sftp.WithMaxTxPacket(255<<10))
	if err != nil {
		s.logf("sshtest: sftp: %v", err)
		return
	}
	if err := srv.Serve(); err != nil && !errors.Is(err, io.EOF) {
		s.logf("sshtest: sftp: %v", err)
	}
	srv.Close()
}
