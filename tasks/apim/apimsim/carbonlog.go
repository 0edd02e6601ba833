package apimsim

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// StartedMarker is the log line fragment that says startup is complete.
const StartedMarker = "WSO2 Carbon started in"

// carbonLog writes repository/logs/wso2carbon.log lines in the product's layout:
// [2024-05-01 10:00:00,123]  INFO {org.wso2...Class} - message
type carbonLog struct {
	mu      sync.Mutex
	f       *os.File
	console bool
}

func openCarbonLog(home string, console bool) (*carbonLog, error) {
	p := LogFile(home)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, err
	}
	return &carbonLog{f: f, console: console}, nil
}

func (l *carbonLog) write(level, class, format string, a ...any) {
	line := fmt.Sprintf("[%s] %5s {%s} - %s\n", time.Now().Format("2006-01-02 15:04:05,000"), level, class, fmt.Sprintf(format, a...))
	l.mu.Lock()
	defer l.mu.Unlock()
	l.f.WriteString(line)
	if l.console {
		os.Stdout.WriteString(line)
	}
}

func (l *carbonLog) infof(class, format string, a ...any)  { l.write("INFO", class, format, a...) }
func (l *carbonLog) warnf(class, format string, a ...any)  { l.write("WARN", class, format, a...) }
func (l *carbonLog) errorf(class, format string, a ...any) { l.write("ERROR", class, format, a...) }

func (l *carbonLog) close() { l.f.Close() }
