"""`python -m scheduler`: see scheduler.clock."""

from scheduler.clock import main

raise SystemExit(main())
