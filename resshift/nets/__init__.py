"""ResShift's networks: the Swin UNet denoiser and the VQ autoencoder."""
from .unet import UNetSwin
from .vq import VQAutoencoder

__all__ = ["UNetSwin", "VQAutoencoder"]
