package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"

	"github.com/larder-mirror/larder/storage"
)

// throughLarder runs a maintenance task in the larder that holds the data
// folder dir, over its control socket (see control.go): it posts body to
// path, shows the progress frames on bar, passes notes to standard error
// and archive bytes to data, and decodes the result into result. inUse is
// the error that sent it here, returned with the reason when no larder
// answers.
func throughLarder(ctx context.Context, c console, dir, path string, body any, bar *progressBar, data io.Writer, result any, inUse error) error {
	sock := filepath.Join(dir, controlSocket)
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", sock)
		},
	}}
	defer client.CloseIdleConnections()
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://larder"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%w, and it does not answer on %s (%v): a larder older than this one, or one that is not a server (an export); stop it to work on the folder directly", inUse, sock, bareNetError(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the running larder refused: %s", strings.TrimSpace(string(msg)))
	}
	fmt.Fprintf(c.err, "a running larder holds %s; working through it\n", dir)
	defer bar.finish()
	for {
		kind, payload, err := readFrame(resp.Body)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("the running larder stopped answering before it was done: %v", err)
		}
		switch kind {
		case frameProgress:
			var p storage.Progress
			if json.Unmarshal(payload, &p) == nil {
				bar.update(p)
			}
		case frameNote:
			fmt.Fprintf(c.err, "%s\n", payload)
		case frameData:
			if data == nil {
				return errors.New("the running larder sent an archive nobody asked for")
			}
			if _, err := data.Write(payload); err != nil {
				return err
			}
		case frameResult:
			return json.Unmarshal(payload, result)
		case frameError:
			return errors.New(string(payload))
		default:
			return fmt.Errorf("the running larder sent a frame of unknown type %q", kind)
		}
	}
}

// bareNetError drops the "Post http://larder/...: dial unix ...:" that
// net/http puts before the reason.
func bareNetError(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}
