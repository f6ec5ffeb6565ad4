// Command tagged prints which build it is, so svtest can check that
// BuildBinaryWith passes -tags.
package main

import "fmt"

func main() { fmt.Println(variant) }
