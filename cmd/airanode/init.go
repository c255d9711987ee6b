package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/identity"
)

func newInitCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the data directory, the node identity and a commented config file",
		Long: "init creates the data directory (--data-dir), a persisted Ed25519 identity (mode 0600) and\n" +
			"a config file listing every setting with its default. It keeps an existing identity and, unless\n" +
			"--force, an existing config file.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
				return fmt.Errorf("create data dir: %w", err)
			}
			sk, created, err := identity.LoadOrCreate(filepath.Join(c.DataDir, identity.FileName))
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			verb := "kept existing"
			if created {
				verb = "created"
			}
			fmt.Fprintf(out, "identity: %s %s\n", verb, identity.PeerID(sk))
			path := filepath.Join(c.DataDir, config.FileName)
			_, statErr := os.Stat(path)
			switch {
			case statErr == nil && !force:
				fmt.Fprintf(out, "config:   kept existing %s (use --force to rewrite)\n", path)
			case statErr == nil || errors.Is(statErr, fs.ErrNotExist):
				if err := identity.WriteFileAtomic(path, []byte(config.Template(c)), 0o600); err != nil {
					return fmt.Errorf("write config: %w", err)
				}
				fmt.Fprintf(out, "config:   wrote %s\n", path)
			default:
				return fmt.Errorf("config: %w", statErr)
			}
			fmt.Fprintf(out, "data dir: %s\n", c.DataDir)
			return nil
		},
	}
	cmd.Flags().BoolVar(&force, "force", false, "rewrite an existing config file")
	return cmd
}
