package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// dataStoreDir is the store's directory inside the data directory.
const dataStoreDir = "store"

// dataReport is what `data import` and `data show` print with --json.
type dataReport struct {
	CID        string          `json:"cid"`
	Bytes      int64           `json:"bytes"`
	TrainBytes int64           `json:"train_bytes"`
	ValBytes   int64           `json:"val_bytes"`
	Blocks     int             `json:"blocks"`
	ValBlocks  int             `json:"val_blocks"`
	Manifest   *bench.Manifest `json:"manifest"`
}

func newDataCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "data",
		Short: "Import and inspect text datasets for the byte-level text protocol",
		Long: "A dataset is a manifest object listing raw blocks of bytes, with a deterministic\n" +
			"train/validation split. `data import` writes one into the node's store and prints its CID,\n" +
			"which `airanode eval --protocol text --data CID` uses.",
	}
	cmd.AddCommand(newDataImportCmd(), newDataShowCmd())
	return cmd
}

func newDataImportCmd() *cobra.Command {
	var blockSize int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "import FILE...",
		Short: "Chunk files into raw blocks and write a dataset manifest; print its CID",
		Long: "import reads the files in order, cuts each into blocks of --block-size bytes (a file's\n" +
			"last block may be shorter), stores the blocks and a dataset manifest in the node's store, and\n" +
			"prints the manifest's CID. About 10% of the distinct blocks, chosen by their hash, hold\n" +
			"validation data. Importing the same files with the same block size gives the same CID.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			st, err := dataOpenStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			c, m, err := bench.ImportFiles(st, files, blockSize)
			if err != nil {
				return err
			}
			if err := st.Sync(); err != nil {
				return fmt.Errorf("sync store: %w", err)
			}
			return dataPrint(cmd.OutOrStdout(), c.String(), m, asJSON, false)
		},
	}
	cmd.Flags().IntVar(&blockSize, "block-size", bench.DefaultBlockSize,
		fmt.Sprintf("block size in bytes (%d to %d)", bench.MinBlockSize, bench.MaxBlockSize))
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newDataShowCmd() *cobra.Command {
	var asJSON, blocks bool
	cmd := &cobra.Command{
		Use:   "show CID",
		Short: "Show a dataset manifest: files, blocks, sizes and the train/validation split",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := object.ParseCID(args[0])
			if err != nil {
				return err
			}
			st, err := dataOpenStore(cmd)
			if err != nil {
				return err
			}
			defer st.Close()
			m, err := bench.LoadManifest(st, c)
			if err != nil {
				return err
			}
			return dataPrint(cmd.OutOrStdout(), c.String(), m, asJSON, blocks)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (the whole manifest)")
	cmd.Flags().BoolVar(&blocks, "blocks", false, "list every block")
	return cmd
}

// dataOpenStore opens the node's store in <data-dir>/store, creating the directory if needed.
func dataOpenStore(cmd *cobra.Command) (*store.Store, error) {
	c, err := loadConfig(cmd)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir: %w", err)
	}
	st, err := store.Open(filepath.Join(c.DataDir, dataStoreDir), store.Options{})
	if err != nil {
		return nil, fmt.Errorf("open store (is a node running on this data directory?): %w", err)
	}
	return st, nil
}

func dataPrint(w io.Writer, c string, m *bench.Manifest, asJSON, blocks bool) error {
	tr, val := m.Split()
	r := dataReport{CID: c, Bytes: m.Bytes, TrainBytes: tr, ValBytes: val, Blocks: len(m.Blocks), Manifest: m}
	for _, b := range m.Blocks {
		if b.Val {
			r.ValBlocks++
		}
	}
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	}
	fmt.Fprintf(w, "dataset:    %s\n", c)
	fmt.Fprintf(w, "bytes:      %d (train %d, validation %d)\n", r.Bytes, tr, val)
	fmt.Fprintf(w, "blocks:     %d of %d bytes (validation %d)\n", r.Blocks, m.BlockSize, r.ValBlocks)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tBYTES\tBLOCKS")
	for _, f := range m.Files {
		fmt.Fprintf(tw, "%s\t%d\t%d\n", f.Name, f.Bytes, f.Blocks)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if blocks {
		tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "BLOCK\tCID\tBYTES\tSPLIT")
		for i, b := range m.Blocks {
			split := "train"
			if b.Val {
				split = "validation"
			}
			fmt.Fprintf(tw, "%d\t%s\t%d\t%s\n", i, b.CID, b.Size, split)
		}
		return tw.Flush()
	}
	return nil
}
