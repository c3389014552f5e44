# The UDP client of the tutorial udpkit grew from (shared/seeds), unchanged
# but for the command-line arguments below: a real client that udpkit's
# server must answer although it knows nothing of the protocol.
import socket
import sys

def udp_client(server_host='127.0.0.1', server_port=12345, message="Hello, UDP Server!"):
    # Create a UDP socket
    client_socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # Send message to the server
    client_socket.sendto(message.encode(), (server_host, server_port))
    print(f"Message sent to {server_host}:{server_port}")
    # Optionally, receive a response from the server
    response, server_address = client_socket.recvfrom(1024)  # Buffer size is 1024 bytes
    print(f"Received response from server: {response.decode()}")
    # Close the socket
    client_socket.close()

if __name__ == "__main__":
    udp_client(sys.argv[1], int(sys.argv[2]))
