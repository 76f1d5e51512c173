from polex.cli import main

main()
