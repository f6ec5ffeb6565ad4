module github.com/localsupervisor/supervisor

go 1.26
