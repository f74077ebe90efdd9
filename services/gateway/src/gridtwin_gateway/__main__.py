from gridtwin_gateway.server import main

main()
