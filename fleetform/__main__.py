from fleetform.cli.main import main

raise SystemExit(main())
