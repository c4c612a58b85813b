package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os/exec"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"peerwiki/ui/web"
)

func (a *app) webCommand() *cobra.Command {
	var listen string
	var open bool
	cmd := &cobra.Command{
		Use:   "web [--listen 127.0.0.1:7272] [--open]",
		Short: "The wiki in a web browser",
		Long: `Serve the wiki to a web browser: the page list with filter and full-text
search, pages with their [[links]] and backlinks, history as a graph, diffs,
conflicts side by side with a form that resolves them, editing with a
preview, new, rename and delete. Open pages follow changes as they happen:
edits made here, by other commands, or arriving from peers through a
running 'peerwiki serve'.

It listens on loopback only (127.0.0.1:7272) unless --listen names another
address; then it prints an address with a token, and answers nobody who has
not opened that address once. Prints "listening on URL" when ready; --open
also opens the URL in the desktop's browser (xdg-open). Every write needs
the token of a form this server made: another site cannot write through
your browser. What pages hold is shown, never run.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, as []string) error {
			a.keepRunning()
			r, err := a.open()
			if err != nil {
				return err
			}
			ln, err := net.Listen("tcp", listen)
			if err != nil {
				return fmt.Errorf("web: %w", err)
			}
			addr := ln.Addr().(*net.TCPAddr)
			opts := web.Options{Repo: r, Loopback: addr.IP.IsLoopback(),
				Log: slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))}
			url := "http://" + addr.String() + "/"
			if !opts.Loopback {
				opts.Token = web.NewToken()
				url += "?token=" + opts.Token
			}
			srv := web.New(opts)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, BaseContext: func(net.Listener) context.Context { return ctx }}
			go srv.Run(ctx)
			go func() {
				<-ctx.Done()
				shut, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				hs.Shutdown(shut)
			}()
			fmt.Fprintf(a.stdout, "listening on %s\n", url)
			if open {
				if c := exec.Command("xdg-open", url); c.Start() != nil {
					fmt.Fprintf(a.stderr, "peerwiki: cannot open a browser; open %s\n", url)
				} else {
					go c.Wait()
				}
			}
			if err := hs.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("web: %w", err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:7272", "address to listen on (beyond loopback, a token is required)")
	cmd.Flags().BoolVar(&open, "open", false, "open the address in a browser")
	return cmd
}
