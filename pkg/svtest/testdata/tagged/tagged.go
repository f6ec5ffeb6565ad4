//go:build svtesttag

package main

const variant = "tagged"
