"""A bare echo consumer: the round-trip ceiling that bench/crowd.py measures the scheduler against."""

from channels.generic.websocket import AsyncWebsocketConsumer


class EchoConsumer(AsyncWebsocketConsumer):
    channel_layer_alias = "none"

    async def receive(self, text_data=None, bytes_data=None):
        await self.send(text_data=text_data, bytes_data=bytes_data)
